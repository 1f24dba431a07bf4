# Lago: the lago-server image.
#
#   docker build -t lago .
#   docker run -d --name lago -p 127.0.0.1:50051:50051 -v lago-data:/data \
#     -e LAGO_ALLOW_INSECURE=true lago
#
# Build stage: the README's test command (deploy/run-tests.sh) installs the
# Debian packages with the same script the README uses, builds, and runs every
# test; the image is only made when they pass.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN ./deploy/run-tests.sh

# Runtime stage: the two binaries and their shared libraries, a non-root user,
# the database on the /data volume.
FROM debian:12-slim
COPY deploy/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && grep -v '^#' /tmp/runtime-packages.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home lago \
 && mkdir -p /data && chown lago:lago /data
COPY --from=build /src/build/server/lago-server /src/build/server/lago-health /usr/local/bin/
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER lago
WORKDIR /data
VOLUME ["/data"]
EXPOSE 50051
ENV LAGO_LISTEN=0.0.0.0:50051 LAGO_DB=/data/lago.db LAGO_SHUTDOWN_GRACE=8
# grpc.health.v1 through lago-health (it reads LAGO_LISTEN and LAGO_TLS_CA).
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["lago-health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["docker-entrypoint.sh"]
