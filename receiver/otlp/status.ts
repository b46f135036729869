/** gRPC statuses as the OTLP receiver and forwarder use them. */
import { status as Status, type StatusObject } from '@grpc/grpc-js';

/** An error that the receiver answers with this gRPC status code and message. */
export class StatusError extends Error {
  constructor(
    readonly code: Status,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Codes that OTLP/gRPC senders retry (the OTLP specification's list); RESOURCE_EXHAUSTED is
 * retryable only when the server says when to retry, which is not judged here.
 */
export const RETRYABLE: ReadonlySet<Status> = new Set([
  Status.CANCELLED,
  Status.DEADLINE_EXCEEDED,
  Status.ABORTED,
  Status.OUT_OF_RANGE,
  Status.UNAVAILABLE,
  Status.DATA_LOSS,
]);

export function statusName(code: number): string {
  return (Status as unknown as Record<number, string>)[code] ?? `status ${code}`;
}

export function describe(err: Partial<StatusObject> | Error | unknown): string {
  const e = err as Partial<StatusObject> & { message?: string };
  if (typeof e?.code === 'number') return `${statusName(e.code)}: ${e.details ?? e.message ?? ''}`.replace(/: $/, '');
  return (err as Error)?.message ?? String(err);
}
