# The engine image: `docker build -t quiver:dev .`
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p quiver-server --bin quiver

FROM debian:bookworm-slim
RUN useradd --uid 65532 --user-group --home-dir /var/lib/quiver quiver \
 && mkdir -p /var/lib/quiver && chown quiver:quiver /var/lib/quiver
COPY --from=build /src/target/release/quiver /usr/local/bin/quiver
USER 65532:65532
WORKDIR /var/lib/quiver
EXPOSE 6333 6334 6335
ENTRYPOINT ["/usr/local/bin/quiver"]
