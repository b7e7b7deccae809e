/**
 * Random passwords for the sandbox accounts. Uniform over the alphabet (rejection sampling, no modulo bias), and
 * always containing an upper-case letter, a lower-case letter, a digit and a symbol so any complexity policy
 * accepts them. Nobody types these: they live only in the caller's DPAPI-protected store.
 */
import { randomBytes } from 'node:crypto';
import { PASSWORD_LENGTH } from './constants';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_!#%+=.~';
const CLASSES = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/];

export function generatePassword(length = PASSWORD_LENGTH, random: (n: number) => Buffer = randomBytes): string {
  if (length < 24) throw new Error('sandbox passwords are at least 24 characters');
  const limit = 256 - (256 % ALPHABET.length);
  for (;;) {
    let out = '';
    while (out.length < length) {
      for (const b of random(length * 2)) {
        if (b < limit && out.length < length) out += ALPHABET[b % ALPHABET.length];
      }
    }
    if (CLASSES.every((re) => re.test(out))) return out;
  }
}
