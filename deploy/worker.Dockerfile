# A lab worker image: examples/lab_worker.py with the Python client.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN ./deploy/install-deps.sh && ./deploy/build.sh

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-grpcio python3-protobuf \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10002 --user-group worker
COPY --from=build /src/build/python /opt/lago/python
COPY examples/lab_worker.py /opt/lago/lab_worker.py
ENV PYTHONPATH=/opt/lago/python
USER worker
ENTRYPOINT ["python3", "/opt/lago/lab_worker.py"]
