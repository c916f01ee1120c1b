-- Argo CD health of Quiver's resources (VectorCluster, VectorCollection, VectorBackup), read
-- from the status the operator writes: short enum phases and kstatus conditions, so no message
-- text is matched.
local hs = { status = "Progressing", message = "waiting for the operator" }
if obj.status == nil then
  return hs
end
local gen = obj.metadata.generation
if gen ~= nil and obj.status.observedGeneration ~= gen then
  hs.message = "the operator has not reconciled the latest spec yet"
  return hs
end
local phase = obj.status.phase
if phase == "Paused" then
  return { status = "Suspended", message = "spec.paused is true" }
end
if phase == "Failed" then
  return { status = "Degraded", message = obj.status.message or "the backup failed" }
end
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Stalled" and c.status == "True" then
      return { status = "Degraded", message = c.message }
    end
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      if c.status == "True" then
        return { status = "Healthy", message = c.message }
      end
      hs.message = c.message
    end
  end
end
if phase == "Degraded" then
  hs.status = "Degraded"
end
return hs
