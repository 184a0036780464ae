// For tests that inspect an error: the AppError a call failed with (and a test failure if it did not).
import type { AppError } from '../../shared/errors.ts';

export async function failure(work: Promise<unknown>): Promise<AppError> {
  try {
    await work;
  } catch (error) {
    return error as AppError;
  }
  throw new Error('expected a failure');
}
