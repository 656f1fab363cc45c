// Structured logs of the Lambda functions: one JSON object per line on stdout,
// which CloudWatch Logs Insights parses as fields. Never a key, a secret or a
// request body; errors by kind and message.
import { toHyperspaceError } from '../errors.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
export type Logger = (level: LogLevel, message: string, fields?: LogFields) => void;

/** Writes `{"level","message","time",...fields}` lines to stdout (raw, so Lambda adds no text prefix). */
export const jsonLogger: Logger = (level, message, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ level, message, time: new Date().toISOString(), ...fields })}\n`);
};

/** The fields of an error in a log line; the stack only for unexpected (internal) ones. */
export function errorFields(error: unknown): LogFields {
  const { error: e, unexpected } = toHyperspaceError(error);
  return unexpected ? { errorKind: e.kind, error: (error as Error)?.message ?? String(error), stack: (error as Error)?.stack } : { errorKind: e.kind, error: e.message };
}
