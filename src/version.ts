// The package's version, as a constant so that every host (a page has no package.json to
// read) can stamp it into the files it writes. test/version.test.ts keeps it equal to
// package.json's.
export const VERSION = '0.1.0';
