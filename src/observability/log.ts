// Writes structured lines. Workers Logs indexes a JSON object logged as one line field by field; the console method
// matches the line's level so that the dashboard's own level filter agrees with the `level` field.
import { eventLogLine, type LogLevel } from "./request-log";

export function writeLine(line: Record<string, unknown>): void {
  const text = JSON.stringify(line);
  if (line.level === "error") console.error(text);
  else if (line.level === "warn") console.warn(text);
  else console.log(text);
}

/** Logs one event (message and fields scrubbed: see request-log.ts `scrub`). */
export function logEvent(level: LogLevel, message: string, fields?: Record<string, string | number | boolean>): void {
  writeLine(eventLogLine(level, message, fields));
}
