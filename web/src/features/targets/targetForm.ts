// The target form's pure logic, shared by creating and editing: the form's values, local checks,
// the POST body, the PUT body (only what changed), and server errors mapped onto the fields.

import { ApiError, formErrors, type FormErrors } from "../../api/errors";
import type { Protocol, Target, TargetInput, TargetUpdate } from "../../api/types";
import { canonicalJson } from "../jobs/diff";
import { parseMetadata } from "./metadata";

export const TARGET_FIELDS = ["name", "hostname", "protocol", "port", "credential_ref", "tags", "metadata"] as const;
export type TargetField = (typeof TARGET_FIELDS)[number];
export const PROTOCOLS: readonly Protocol[] = ["winrm", "ssh", "http"];

export function isProtocol(v: string): v is Protocol {
  return (PROTOCOLS as readonly string[]).includes(v);
}

/** What the form's inputs hold (text as typed). */
export interface TargetFormValues {
  name: string;
  hostname: string;
  protocol: Protocol;
  /** Empty: the protocol's default port. */
  port: string;
  /** A credential id as the select holds it, or null. */
  credential: string | null;
  tags: string[];
  /** JSON text; empty is `{}`. */
  metadata: string;
}

/** The checked values, ready for a request body. */
export interface TargetFormResult {
  name: string;
  hostname: string;
  protocol: Protocol;
  port: number | undefined;
  credential_ref: number;
  tags: string[];
  metadata: Record<string, unknown>;
}

export function emptyTargetForm(): TargetFormValues {
  return { name: "", hostname: "", protocol: "winrm", port: "", credential: null, tags: [], metadata: "" };
}

/** The form prefilled with a saved target (metadata pretty-printed; `{}` shows as empty). */
export function targetFormOf(t: Target): TargetFormValues {
  const hasMetadata = Object.keys(t.metadata).length > 0;
  return {
    name: t.name,
    hostname: t.hostname,
    protocol: t.protocol,
    port: String(t.port),
    credential: t.credential_ref === null ? null : String(t.credential_ref),
    tags: [...t.tags],
    metadata: hasMetadata ? JSON.stringify(t.metadata, null, 2) : "",
  };
}

/** The server's default port (crates/core/src/targets.rs `Protocol::default_port`). */
export function defaultPort(protocol: Protocol, metadata: Record<string, unknown>): number {
  switch (protocol) {
    case "winrm":
      return metadata.winrm_use_https === true ? 5986 : 5985;
    case "ssh":
      return 22;
    case "http":
      return 443;
  }
}

/**
 * The port field after the protocol changes to `next`, while editing `original`: the saved port
 * is cleared when moving to another protocol (the server then takes that protocol's default, as
 * a PUT without a port does), and comes back when moving back to the saved protocol with the
 * field empty. A port the user typed is kept. When creating (`original` null) nothing changes.
 */
export function portOnProtocolChange(port: string, next: Protocol, original: Target | null): string {
  if (original === null) return port;
  const saved = String(original.port);
  if (next === original.protocol) return port.trim() === "" ? saved : port;
  return port.trim() === saved ? "" : port;
}

/** Local checks before anything is sent: every problem by field, or the values to send. */
export function checkTargetForm(v: TargetFormValues): { ok: true; value: TargetFormResult } | { ok: false; errors: Partial<Record<TargetField, string>> } {
  const errors: Partial<Record<TargetField, string>> = {};
  if (v.name.trim() === "") errors.name = "Required";
  if (v.hostname.trim() === "") errors.hostname = "Required";
  let port: number | undefined;
  const portText = v.port.trim();
  if (portText !== "") {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) errors.port = "Port must be between 1 and 65535";
  }
  if (v.credential === null) errors.credential_ref = "Required";
  const badTag = v.tags.find((t) => {
    const [k = "", ...rest] = t.split(":");
    return rest.length === 0 || k.trim() === "" || rest.join(":").trim() === "";
  });
  if (badTag !== undefined) errors.tags = `"${badTag}" is not key:value`;
  const meta = parseMetadata(v.metadata);
  if ("error" in meta) errors.metadata = meta.error;
  if (Object.keys(errors).length > 0 || "error" in meta || v.credential === null) return { ok: false, errors };
  return {
    ok: true,
    value: {
      name: v.name.trim(),
      hostname: v.hostname.trim(),
      protocol: v.protocol,
      port,
      credential_ref: Number(v.credential),
      tags: v.tags,
      metadata: meta.value,
    },
  };
}

/** `POST /targets`: everything; without a port the server takes the protocol's default. */
export function createBody(r: TargetFormResult): TargetInput {
  return {
    name: r.name,
    hostname: r.hostname,
    protocol: r.protocol,
    ...(r.port !== undefined ? { port: r.port } : {}),
    credential_ref: r.credential_ref,
    tags: r.tags,
    metadata: r.metadata,
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * `PUT /targets/{id}`: only the fields that changed (absent fields keep their value on the
 * server). The port follows the server's rules: a PUT that names a protocol but no port moves to
 * that protocol's default port, one that names neither keeps the port. So:
 * - a port given is sent when it differs, or with a changed protocol;
 * - an empty port is sent as "the protocol, without a port" when that makes the port the default
 *   (a changed protocol, or a saved port other than the default); otherwise nothing is sent.
 * An empty object means nothing changed.
 */
export function updateBody(original: Target, r: TargetFormResult): TargetUpdate {
  const body: TargetUpdate = {};
  if (r.name !== original.name) body.name = r.name;
  if (r.hostname !== original.hostname) body.hostname = r.hostname;
  const protocolChanged = r.protocol !== original.protocol;
  if (protocolChanged) body.protocol = r.protocol;
  if (r.port !== undefined) {
    if (protocolChanged || r.port !== original.port) body.port = r.port;
  } else if (!protocolChanged && defaultPort(r.protocol, r.metadata) !== original.port) {
    body.protocol = r.protocol;
  }
  if (r.credential_ref !== original.credential_ref) body.credential_ref = r.credential_ref;
  if (!sameList(r.tags, original.tags)) body.tags = r.tags;
  if (canonicalJson(r.metadata) !== canonicalJson(original.metadata)) body.metadata = r.metadata;
  return body;
}

/**
 * A refused create or update on the form: 422 issues on their fields, the contract's 400
 * "Invalid credential reference" on the credential, a 409 (duplicate name) on the name;
 * anything else is general.
 */
export function targetFormErrors(err: unknown): FormErrors<TargetField> {
  const mapped = formErrors(err, TARGET_FIELDS);
  if (err instanceof ApiError && err.issues.length === 0) {
    if (err.status === 400 && /credential/i.test(err.message)) return { fields: { credential_ref: err.message }, general: null };
    if (err.status === 409) return { fields: { name: err.message }, general: null };
  }
  return mapped;
}
