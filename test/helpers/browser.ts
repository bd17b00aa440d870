import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium (scripts/setup-host.sh installs it); playwright-core downloads no browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Where tests leave screenshots for people to look at (never committed). */
export const ARTEFACT_DIR = process.env.CONTID_TEST_ARTEFACTS ?? join(tmpdir(), 'contid-test-artefacts');

export interface Browser {
  page: Page;
  /** Console errors and uncaught page errors seen so far. */
  errors: string[];
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile and nothing that talks to the network on its own
 * (no sync, no component updates, no QUIC, no background networking).
 */
export async function openBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'contid-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const ctx = context;
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return {
    page,
    errors,
    close: async () => {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function artefactPath(name: string): string {
  mkdirSync(ARTEFACT_DIR, { recursive: true });
  return join(ARTEFACT_DIR, name);
}
