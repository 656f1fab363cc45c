# The gRPC server for the optional Fargate service (infra/grpc.ts; entry
# functions/grpc/main.ts). Build: docker build -t hyperspacedb-grpc .
# Run: docker run -e HYPERSPACE_BUCKET=... -e HYPERSPACE_TABLE=... -e AWS_REGION=... -p 50051:50051 hyperspacedb-grpc
FROM node:22-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The image's own Node headers: node-gyp builds the addon without downloading them.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
# Production dependencies only; the install script builds the native addon for this image.
RUN npm ci --omit=dev --no-audit --no-fund
COPY proto ./proto
COPY engine ./engine
COPY functions ./functions

FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
USER node
EXPOSE 50051
# tsx runs the TypeScript sources as they are (no build step), as bin/hyperspace.mjs does.
CMD ["node", "--import", "tsx", "functions/grpc/main.ts"]
