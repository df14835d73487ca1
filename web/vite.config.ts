/// <reference types="vitest/config" />
import { defineConfig, loadEnv } from "vite";
import react from "@vitejs/plugin-react";

// Every path prefix the API answers on. The dev server forwards these to a running
// `opsconductor serve` (OPSC_API, default http://127.0.0.1:8443); everything else is the app.
const API_PREFIXES = [
  "/api",
  "/auth",
  "/users",
  "/credentials",
  "/targets",
  "/jobs",
  "/runs",
  "/executor",
  "/audit",
  "/health",
  "/ready",
  "/metrics",
  "/docs",
  "/api-docs",
];

export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, process.cwd(), "OPSC_");
  const target = env.OPSC_API ?? "http://127.0.0.1:8443";
  const proxy = Object.fromEntries(
    API_PREFIXES.map((prefix) => [
      // Only the prefix itself or the prefix followed by "/" or "?" (so "/jobsxyz" is the app's).
      `^${prefix}(?:[/?]|$)`,
      { target, changeOrigin: true, secure: false },
    ]),
  );
  return {
    base: "/",
    plugins: [react()],
    server: { proxy },
    // `vite preview` serves the build like the real server does, including its CSP (no inline
    // script), so that a build that would break under it shows here first.
    preview: {
      proxy,
      headers: {
        "content-security-policy":
          "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
      },
    },
    // `npm test`: unit tests of pure modules (`src/**/*.test.ts`), in Node (no DOM). Nothing
    // imports them, so they never reach the bundle.
    test: {
      environment: "node",
      include: ["src/**/*.test.ts"],
    },
    build: {
      outDir: "dist",
      assetsDir: "assets",
      sourcemap: false,
      // The server's CSP allows no inline script; Vite's preload polyfill is not needed by
      // the browsers we support.
      modulePreload: { polyfill: false },
      target: "es2022",
      rollupOptions: {
        output: {
          // Libraries change less often than the app: separate files stay cached across releases.
          manualChunks(id) {
            if (!id.includes("/node_modules/")) return undefined;
            if (/\/node_modules\/(react|react-dom|scheduler|react-router|cookie|set-cookie-parser)\//.test(id)) return "react";
            if (id.includes("/node_modules/@mantine/") || id.includes("/node_modules/@floating-ui/")) return "mantine";
            // The virtualiser is only needed by the run page: let it go with that page.
            if (id.includes("/node_modules/@tanstack/react-virtual/") || id.includes("/node_modules/@tanstack/virtual-core/")) return undefined;
            if (id.includes("/node_modules/@tanstack/")) return "tanstack";
            return "vendor";
          },
        },
      },
    },
  };
});
