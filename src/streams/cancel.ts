// Cancelling a stream handed to a call that failed.

/** Cancels a body stream that was handed to a failed call (a no-op for bytes, or a stream already consumed). */
export async function cancelStream(value: unknown, reason: unknown): Promise<void> {
  if (value instanceof ReadableStream && !value.locked) await value.cancel(reason).catch(() => {});
}
