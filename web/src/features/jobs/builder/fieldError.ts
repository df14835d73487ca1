import { createElement, type ReactNode } from "react";

/** An inline error for a Mantine input's `error` prop, findable as `job-field-error`. */
export function fieldError(msg: string | undefined): ReactNode {
  return msg ? createElement("span", { "data-testid": "job-field-error" }, msg) : undefined;
}
