# syntax=docker/dockerfile:1
#
# The blog image: a static (musl) release build of `blog` on a distroless base that has no shell, no
# package manager and no compiler, running as the unprivileged uid 65532. About 2 MB of base plus the
# binary (docs/delivery.md, "Image size").
#
#   docker build --build-arg BLOG_VERSION=$(git rev-parse --short HEAD) -t blog .
#   docker run -p 5000:5000 -e BLOG_STORE=dynamodb:BlogPosts -e BLOG_CSRF_SECRET=... blog

ARG RUST_VERSION=1.95
ARG TARGET=x86_64-unknown-linux-musl
ARG CARGO_CHEF_VERSION=0.1.76

# ---- toolchain: Rust, the musl target and C compiler (rusqlite and the TLS stack compile C), cargo-chef
# The official Rust image through ECR Public: CodeBuild's shared addresses often hit anonymous pull
# limits on other registries.
FROM public.ecr.aws/docker/library/rust:${RUST_VERSION}-slim-bookworm AS chef
ARG TARGET
ARG CARGO_CHEF_VERSION
# The musl C toolchain comes from the base image's Debian release; pinning its package version
# would break the build at every Debian point release, and RUST_VERSION pins the release already.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add "${TARGET}" \
    && cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

# ---- planner: reduce the workspace to its manifests and lock file (the recipe)
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json --bin blog

# ---- builder: dependencies in their own layer, then the blog itself
FROM chef AS builder
ARG TARGET
COPY --from=planner /src/recipe.json recipe.json
# This layer changes only when Cargo.toml or Cargo.lock change, so a code change rebuilds the blog
# alone (CodeBuild keeps it in its local Docker layer cache).
RUN cargo chef cook --release --target "${TARGET}" --package blog --bin blog --recipe-path recipe.json
COPY . .
# The version is compiled in (blog/build.rs reads BLOG_BUILD_VERSION; the context has no .git).
# Declared after the dependency layer so a new version never invalidates it.
ARG BLOG_VERSION=""
ENV BLOG_BUILD_VERSION=${BLOG_VERSION}
RUN cargo build --release --locked --target "${TARGET}" --package blog --bin blog \
    && cp "target/${TARGET}/release/blog" /blog

# ---- runtime
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /blog /usr/local/bin/blog
ENV BLOG_BIND=0.0.0.0 \
    PORT=5000 \
    BLOG_LOG_FORMAT=json
EXPOSE 5000
USER 65532:65532
# ECS runs its own check (the task definition's healthCheck, the same command); this one serves
# `docker run`. There is no curl in the image: the binary checks its own /health.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/blog", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/blog"]
