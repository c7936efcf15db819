# One image for every role: `operator`, `worker`, `sim pbx`, `sim multcall`, `top`.
# Build: docker build -t multcall-operator:dev .
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# Non-root, matching the chart's runAsUser; the root filesystem can be mounted read-only.
USER 10001:10001
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
