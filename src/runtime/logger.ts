import { pino } from "pino";
import { REDACTED, scrub, scrubValue } from "./redact.ts";

export type Logger = pino.Logger;
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; stdout when omitted. Tests pass a stream to read what would have been printed. */
  destination?: pino.DestinationStream;
  /** Fields put on every line. */
  base?: Record<string, unknown>;
}

// Paths pino censors before anything else runs; scrubValue then catches the same names at any depth.
const REDACT_PATHS = [
  "token",
  "password",
  "secret",
  "authorization",
  "headers.authorization",
  "headers.Authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  "request.headers.authorization",
  "*.token",
  "*.password",
  "*.secret",
  "*.authorization",
  "*.headers.authorization",
  "*.headers.Authorization",
  "*.stringData",
  "secret.data",
  "*.adminCredentials.password",
];

/**
 * JSON logger for the whole process. Three layers keep credentials out of the output: pino's path redaction,
 * a structural walk (secret-named fields at any depth, the data of Secret objects, Errors), and a pattern scrub
 * of every finished line (tokens quoted in messages, URLs with userinfo, Authorization values).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const pinoOptions: pino.LoggerOptions = {
    level: options.level ?? "info",
    base: { component: "baton", ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    formatters: {
      level: (label) => ({ level: label }),
      bindings: (bindings) => scrubValue(bindings) as Record<string, unknown>,
      log: (obj) => scrubValue(obj) as Record<string, unknown>,
    },
    serializers: {
      err: (err: unknown) => scrubValue(err),
      error: (err: unknown) => scrubValue(err),
    },
    hooks: {
      streamWrite: (line: string) => scrub(line),
    },
  };
  return options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions);
}

/** An object's key as the work queue and logs spell it: `namespace/name`, or `name` when cluster-scoped. */
export interface ObjectKey {
  namespace?: string | undefined;
  name: string;
}

export function keyString(key: ObjectKey): string {
  return key.namespace ? `${key.namespace}/${key.name}` : key.name;
}

/** Logger for one controller; every line names it. */
export function controllerLogger(root: Logger, controller: string): Logger {
  return root.child({ controller });
}

/** Logger for work on one object, so lines can be filtered by `key` or by namespace. */
export function objectLogger(log: Logger, key: ObjectKey): Logger {
  return log.child({ key: keyString(key), namespace: key.namespace, name: key.name });
}

/** A logger that drops everything; for tests and for parts used without a logger. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
