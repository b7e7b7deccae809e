// Wine tier: koffi struct layouts against the documented x64 sizes (Wine uses the real Windows ABI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { structSize, X64_SIZES, type StructName } from '../../../native-bindings/win32/structs';

for (const [name, size] of Object.entries(X64_SIZES)) {
  test(`sizeof(${name}) is the documented x64 size ${size}`, () => {
    assert.equal(structSize(name as StructName), size);
  });
}
