# Multi-stage build: compile in the Rust image, run from a small Debian image as a non-root user.
#   docker build -t protected-api .
#   docker run -p 8000:8000 -e AUTH_PROVIDER=auth0 -e AUTH0_DOMAIN=… -e AUTH0_API_AUDIENCE=… protected-api

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
# Dependencies first, so they stay cached while only the sources change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
# `sqlx::migrate!` embeds the SQL migrations at compile time, so they are part of the sources.
COPY migrations ./migrations
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --create-home app
WORKDIR /app
COPY --from=builder /src/target/release/protected-api /usr/local/bin/protected-api
USER app
# Listen on every interface inside the container; the local issuer's files go to /app/.data.
ENV SERVER_HOST=0.0.0.0 \
    SERVER_PORT=8000 \
    LOCAL_DATA_DIR=/app/.data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["protected-api", "healthcheck"]
ENTRYPOINT ["protected-api"]
CMD ["serve"]
