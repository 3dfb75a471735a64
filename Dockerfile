# syntax=docker/dockerfile:1
# Legant: one static binary on distroless/static, as user nonroot (65532).
# Run with a read-only root filesystem; state lives in PostgreSQL (or a
# mounted /data for the embedded SQLite store). `make static` builds the
# same binary CI runs (no registry is reachable from CI).
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/legant ./cmd/legant \
 && /out/legant version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/legant /usr/local/bin/legant
COPY LICENSE /usr/share/doc/legant/LICENSE
USER 65532:65532
WORKDIR /data
# 8080: MCP gateway, issuer, JWKS, revocation feed, /healthz, /readyz.
# 8081: admin API, /metrics, /healthz, /readyz.
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/legant"]
CMD ["gateway", "--listen", "0.0.0.0:8080", "--admin-listen", "0.0.0.0:8081", "--upstreams", "/etc/legant/legant.yaml", "--data-dir", "/data", "--log-format", "json"]
