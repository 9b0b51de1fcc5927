// Whether storage answers with the configured credentials: one HEAD of a key nobody writes (keys.healthProbe).
// "Not found" is the healthy answer: it proves the bucket exists and the credentials may read it.
import type { ObjectStore } from "../storage/types";
import { keys } from "./paths";

/** True when storage answered the probe within `timeoutMs`; false on any error or timeout (never thrown). */
export async function storageAnswers(store: ObjectStore, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  const probe = store.head(keys.healthProbe).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
