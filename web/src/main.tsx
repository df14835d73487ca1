import "@mantine/core/styles.css";
import "@mantine/notifications/styles.css";
import "./styles.css";

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";

// The server answers "/" (and every /ui/... path) with this page; the app's own routes all
// live under /ui.
if (window.location.pathname !== "/ui" && !window.location.pathname.startsWith("/ui/")) {
  window.history.replaceState(null, "", `/ui/${window.location.search}${window.location.hash}`);
}

const root = document.getElementById("root");
if (!root) throw new Error("no #root element");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
