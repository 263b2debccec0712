# The campus safety monitor: `docker build -t campus-monitor .`
# The image runs `campus-monitor` through deploy/monitor/entrypoint.sh, which writes the config file
# from the environment (secrets) and /etc/campus/campus.toml (everything else); see docs/deploy.md.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY devices ./devices
COPY alerts ./alerts
COPY monitor ./monitor
RUN python -m venv /opt/campus \
    && /opt/campus/bin/pip install --upgrade pip wheel \
    && /opt/campus/bin/pip install .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="campus-safety-monitor" \
      org.opencontainers.image.description="Watches a school district's cameras, alarm panels and bus GPS over MQTT" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/campus/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 TZ=Asia/Shanghai
RUN groupadd --system --gid 10001 campus \
    && useradd --system --uid 10001 --gid campus --home-dir /var/lib/campus --create-home campus
COPY --from=build /opt/campus /opt/campus
COPY deploy/monitor/entrypoint.sh /usr/local/bin/campus-entrypoint
WORKDIR /var/lib/campus
USER campus
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["campus-entrypoint"]
CMD ["run", "--registry", "/etc/campus/registry.yaml"]
