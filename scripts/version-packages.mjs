#!/usr/bin/env node
/**
 * `pnpm version-packages`: what the release workflow runs to prepare the "Version Packages"
 * pull request (RELEASING.md).
 *
 * - Normally: `changeset version` (versions and changelogs from the pending changesets).
 * - Before the first release, when none of the publishable packages is on npm yet: the
 *   versions in package.json are the first release's (0.1.0), and each package's CHANGELOG.md
 *   already says what the package is and does under that version. The pending changesets
 *   describe how the code got there, which is no user's business, so they are consumed (deleted)
 *   without bumping anything; `changeset publish` then publishes the versions as they are.
 *
 * --dry-run prints what it would do. The registry is asked with `npm view`; a package npm
 * answers E404 for has never been published; any other failure stops the script.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const dryRun = process.argv.includes('--dry-run');

function publishable() {
  const dirs = [...readdirSync(join(REPO, 'packages')).map((d) => join('packages', d)), 'conformance'];
  return dirs
    .filter((d) => existsSync(join(REPO, d, 'package.json')))
    .map((d) => ({ dir: d, pkg: JSON.parse(readFileSync(join(REPO, d, 'package.json'), 'utf8')) }))
    .filter(({ pkg }) => pkg.private !== true);
}

/** The versions of `name` on the registry; [] when it was never published. */
function publishedVersions(name) {
  const r = spawnSync('npm', ['view', name, 'versions', '--json'], { encoding: 'utf8' });
  const out = `${r.stdout}${r.stderr}`;
  if (r.status === 0) {
    const v = JSON.parse(r.stdout || '[]');
    return Array.isArray(v) ? v : [v];
  }
  if (/\bE404\b/.test(out)) return [];
  throw new Error(`npm view ${name} failed (exit ${r.status}); cannot tell whether this is the first release:\n${out}`);
}

const packages = publishable();
const published = packages.filter(({ pkg }) => publishedVersions(pkg.name).length > 0);

if (published.length > 0) {
  // From here on a new package starts at 0.0.0 and a `minor` changeset takes it to 0.1.0.
  console.log(`published already: ${published.map(({ pkg }) => pkg.name).join(', ')}; running changeset version`);
  if (!dryRun) execFileSync('pnpm', ['exec', 'changeset', 'version'], { cwd: REPO, stdio: 'inherit' });
  process.exit(0);
}

// First release.
const problems = [];
for (const { dir, pkg } of packages) {
  if (pkg.version === '0.0.0') {
    problems.push(`${pkg.name} is at 0.0.0: give it its first version (0.1.0) and a CHANGELOG.md section for it, or make it "private": true until it is ready`);
    continue;
  }
  const changelog = join(REPO, dir, 'CHANGELOG.md');
  if (!existsSync(changelog)) problems.push(`${dir}/CHANGELOG.md is missing: write what ${pkg.name} is and does under "## ${pkg.version}"`);
  else if (!readFileSync(changelog, 'utf8').split('\n').includes(`## ${pkg.version}`)) problems.push(`${dir}/CHANGELOG.md has no "## ${pkg.version}" section`);
}
if (problems.length > 0) {
  console.error(`first release: not ready\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
const pending = readdirSync(join(REPO, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
console.log(
  `first release: none of ${packages.map(({ pkg }) => `${pkg.name}@${pkg.version}`).join(', ')} is on npm yet.\n` +
    `Versions stay as they are; CHANGELOG.md files hold the release notes. ${pending.length} development changesets ${dryRun ? 'would be' : 'are'} consumed:\n  ${pending.join('\n  ')}`,
);
if (!dryRun) for (const f of pending) rmSync(join(REPO, '.changeset', f));
