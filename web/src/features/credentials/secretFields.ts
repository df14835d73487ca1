// Which secret fields each credential type takes (crates/core/src/credentials.rs `validate_data`).

export const CREDENTIAL_TYPES = ["winrm", "winrm_ntlm", "winrm_basic", "winrm_kerberos", "ssh", "ssh_key", "api_key", "token"] as const;
export type CredentialType = (typeof CREDENTIAL_TYPES)[number];

export type SecretField = "username" | "domain" | "password" | "private_key" | "passphrase" | "api_key" | "token";

export interface FieldSpec {
  name: SecretField;
  label: string;
  /** A secret: write-only input, never prefilled. */
  secret: boolean;
  multiline?: boolean;
  required: boolean;
  description?: string;
}

export const ALL_SECRET_FIELDS: readonly SecretField[] = ["username", "domain", "password", "private_key", "passphrase", "api_key", "token"];

export function isCredentialType(v: string): v is CredentialType {
  return (CREDENTIAL_TYPES as readonly string[]).includes(v);
}

export function fieldsFor(type: CredentialType): FieldSpec[] {
  switch (type) {
    case "winrm":
    case "winrm_ntlm":
    case "winrm_basic":
    case "winrm_kerberos":
      return [
        { name: "username", label: "User name", secret: false, required: true },
        { name: "password", label: "Password", secret: true, required: true },
        { name: "domain", label: "Domain", secret: false, required: false },
      ];
    case "ssh":
    case "ssh_key":
      return [
        { name: "username", label: "User name", secret: false, required: true },
        { name: "password", label: "Password", secret: true, required: false, description: "A password or a private key is required" },
        {
          name: "private_key",
          label: "Private key",
          secret: true,
          multiline: true,
          required: false,
          description: "OpenSSH or PEM; checked when saved",
        },
        { name: "passphrase", label: "Passphrase", secret: true, required: false, description: "Only if the private key is encrypted" },
      ];
    case "api_key":
      return [{ name: "api_key", label: "API key", secret: true, required: true }];
    case "token":
      return [{ name: "token", label: "Token", secret: true, required: true }];
  }
}

/** The `credential_data` object for a type: only its fields, empty ones left out. */
export function buildData(type: CredentialType, values: Partial<Record<SecretField, string>>): Record<string, string> {
  const data: Record<string, string> = {};
  for (const f of fieldsFor(type)) {
    const v = values[f.name] ?? "";
    const value = f.secret ? v : v.trim();
    if (value !== "") data[f.name] = value;
  }
  return data;
}

/** Checks the browser can make before sending; the server checks again (and parses keys). */
export function missingFields(type: CredentialType, values: Partial<Record<SecretField, string>>): Partial<Record<SecretField, string>> {
  const errors: Partial<Record<SecretField, string>> = {};
  const data = buildData(type, values);
  for (const f of fieldsFor(type)) if (f.required && data[f.name] === undefined) errors[f.name] = "Required";
  if ((type === "ssh" || type === "ssh_key") && data.password === undefined && data.private_key === undefined) {
    errors.password = "A password or a private key is required";
  }
  return errors;
}
