/** Tests run against the TypeScript sources; packages resolve to each other's src. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  moduleNameMapper: { '^@contid/([a-z-]+)$': '<rootDir>/packages/$1/src/index.ts' },
  testMatch: ['<rootDir>/packages/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  testTimeout: 120000,
};
