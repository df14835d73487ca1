// A step changed to another type in the builder.

import { newStep, setKey, type Json, type StepType } from "../definition";
import { textToBase64 } from "./base64";

/** The keys every step has. */
export const COMMON = ["type", "name", "target", "timeoutSec", "retries", "retryBackoffSec", "continueOnError"];
/** The keys some step types have. */
const TYPED = ["command", "sudo", "env", "content", "contentB64", "destPath", "mode", "overwrite", "shell", "method", "url", "headers", "body", "expectedStatus"];

export function typeAccepts(type: StepType, key: string): boolean {
  const accepts: Record<StepType, string[]> = {
    "ssh.exec": ["command", "sudo", "env"],
    "ssh.copy": ["content", "contentB64", "destPath", "mode", "overwrite"],
    "winrm.exec": ["shell", "command"],
    "winrm.copy": ["destPath", "contentB64", "overwrite"],
    "http.request": ["method", "url", "headers", "body", "expectedStatus"],
  };
  return accepts[type].includes(key);
}

/** A step changed to `type`: common and shared fields kept, the new type's required fields added. */
export function retype(data: Json, type: StepType): Json {
  let source = data;
  // winrm.copy has only contentB64: ssh.copy's text content moves there as UTF-8.
  if (type === "winrm.copy" && typeof data.content === "string" && data.contentB64 === undefined) {
    source = setKey(setKey(data, "content", undefined), "contentB64", textToBase64(data.content));
  }
  const fresh = newStep(type);
  let out: Json = Object.fromEntries(Object.entries({ ...fresh, ...source, type }).filter(([k]) => !TYPED.includes(k) || typeAccepts(type, k)));
  if (type === "ssh.copy" && out.contentB64 !== undefined) out = setKey(out, "content", undefined);
  if (type !== "http.request" && out.target === undefined) out = setKey(out, "target", []);
  // An http request runs once when it names no target; an empty list is refused by the server.
  if (type === "http.request" && Array.isArray(out.target) && out.target.length === 0) out = setKey(out, "target", undefined);
  return out;
}
