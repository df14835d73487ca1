import { createTheme, localStorageColorSchemeManager } from "@mantine/core";

export const theme = createTheme({
  primaryColor: "indigo",
  defaultRadius: "sm",
  fontFamilyMonospace: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace",
});

/** The light/dark choice is remembered in localStorage under this key. */
export const colorSchemeManager = localStorageColorSchemeManager({ key: "opsc.color-scheme" });
