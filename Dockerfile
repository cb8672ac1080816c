# The kposture image the admission webhook runs (`kposture admission install --image ...`).
# Build and push it to a registry your nodes pull from:
#   docker build -t registry.example.com/kposture:0.1.0 . && docker push registry.example.com/kposture:0.1.0
FROM python:3.11-slim
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && rm -rf /build
WORKDIR /
# The rendered Deployment runs as this non-root user with a read-only root filesystem.
USER 65532:65532
ENTRYPOINT ["kposture"]
CMD ["--help"]
