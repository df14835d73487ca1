// HTTP access to the API on the same origin (relative paths), with the session's bearer token.
// A 401 is retried once after renewing the access token; a second 401 (or a failed renewal)
// ends the session.

import { session } from "../auth/session";
import { ApiError, NetworkError, errorFromResponse } from "./errors";

export type QueryValue = string | number | boolean | null | undefined | readonly (string | number)[];
export type QueryParams = Record<string, QueryValue>;

/** `path?query`, leaving out empty values; arrays repeat the key (`tag=a&tag=b`). */
export function withQuery(path: string, query?: QueryParams): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) {
      for (const v of value) params.append(key, String(v));
    } else {
      params.append(key, String(value));
    }
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

function sessionOver(): ApiError {
  return new ApiError(401, "Your session has ended; please sign in again");
}

/**
 * `fetch` with the access token. Returns the response whatever its status (except a 401 that
 * survived one renewal, which throws), so that callers can stream the body.
 */
export async function authedFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const send = async (token: string): Promise<Response> => {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${token}`);
    try {
      return await fetch(path, { ...init, headers, credentials: "same-origin" });
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError") throw err;
      throw new NetworkError();
    }
  };
  const token = await session.accessToken();
  if (token === null) throw sessionOver();
  const res = await send(token);
  if (res.status !== 401) return res;
  const renewed = await session.accessTokenAfterRejection(token);
  if (renewed === null) throw sessionOver();
  const again = await send(renewed);
  if (again.status === 401) {
    const err = await errorFromResponse(again);
    await session.logout("Your session has ended. Please sign in again.");
    throw err;
  }
  return again;
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE" | "PATCH";
  query?: QueryParams;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A JSON request; throws `ApiError` for any non-2xx answer. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  let body: BodyInit | undefined;
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const res = await authedFetch(withQuery(path, options.query), {
    method: options.method ?? "GET",
    headers,
    body,
    signal: options.signal,
  });
  if (!res.ok) throw await errorFromResponse(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
