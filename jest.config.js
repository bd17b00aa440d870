/** Tests run against the TypeScript sources; packages resolve to each other's src. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  // a module by path (`@contid/audit/dist/search`, as the CLI imports what a command runs) is its source too
  moduleNameMapper: { '^@contid/([a-z-]+)$': '<rootDir>/packages/$1/src/index.ts', '^@contid/([a-z-]+)/dist/([a-z/-]+)$': '<rootDir>/packages/$1/src/$2.ts' },
  testMatch: ['<rootDir>/packages/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  testTimeout: 120000,
  setupFiles: ['<rootDir>/test/helpers/umask.ts'],
};
