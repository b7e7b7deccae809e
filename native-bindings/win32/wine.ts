/**
 * Detects Wine (ntdll exports wine_get_version). Used only to explain results honestly: Wine does not enforce
 * restricted tokens, file DACLs or users, and stubs some read-backs. Must never be used to skip a check on real
 * Windows or to claim enforcement.
 */
import { dll, once } from './lib';

/** The Wine version when running under Wine, otherwise undefined. */
export const wineVersion = once((): string | undefined => {
  try {
    const get = dll('ntdll.dll').func('const char *wine_get_version()');
    return String(get());
  } catch {
    return undefined;
  }
});

export function isWine(): boolean {
  return wineVersion() !== undefined;
}
