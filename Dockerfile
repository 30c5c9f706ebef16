# ds-monitor: one long-running process (`python main.py run`) with its HTTP health endpoint on 8080.
#   docker build -t ds-monitor .
#   docker run --env-file .env -v ds-monitor-logs:/app/logs -p 127.0.0.1:8080:8080 ds-monitor
# For reproducible builds, pin the base image by digest (python:3.11-slim@sha256:...).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# A fixed, unprivileged uid/gid so a bind-mounted logs/ can be chowned to it on the host (10001).
RUN groupadd --system --gid 10001 dsmonitor \
    && useradd --system --uid 10001 --gid dsmonitor --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin dsmonitor

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes, not on every code edit.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY main.py ./
COPY src/ ./src/
COPY config/ ./config/

# State files and the log file live in logs/ (state_dir and logging.file default there). It must
# exist and belong to the runtime user before VOLUME, so a fresh named volume inherits the ownership.
RUN mkdir -p /app/logs && chown 10001:10001 /app/logs
VOLUME ["/app/logs"]

# The health endpoint is off by default outside containers; here the health check and Prometheus
# need it, on every interface of the container (publish it on 127.0.0.1 of the host only).
ENV DS_MONITOR__HTTP_HOST=0.0.0.0 \
    DS_MONITOR__HTTP_PORT=8080
EXPOSE 8080

# Numeric, so Kubernetes runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

# No curl in the slim image: urllib raises on any non-2xx answer or a refused connection, and
# the uncaught exception exits 1 = unhealthy. The port follows DS_MONITOR__HTTP_PORT overrides.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DS_MONITOR__HTTP_PORT', '8080'), timeout=4)"]

# Exec form: python is PID 1 and receives SIGTERM itself; the run loop finishes the current step,
# flushes state and exits 0.
STOPSIGNAL SIGTERM
CMD ["python", "main.py", "run"]
