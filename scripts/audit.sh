#!/usr/bin/env bash
# Audit the production dependencies against the registry's advisories (npm audit --omit=dev).
#
#   exit 1  high or critical findings (listed)
#   exit 0  no high or critical findings, or the audit service could not be reached or did not answer
#           (a registry or mirror without the bulk advisory endpoint answers 405): a WARNING line says
#           the check could not run, since that is no finding either way
#   exit 2  npm failed for another reason (no lockfile, a broken install, ...)
#
# Extra arguments go to npm audit, e.g. scripts/audit.sh --registry=https://registry.example/
set -uo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

npm audit --omit=dev --audit-level=high --json "$@" >"$out" 2>"$err"
status=$?

AUDIT_STATUS=$status node - "$out" "$err" <<'EOF'
const fs = require('node:fs');
const [outFile, errFile] = process.argv.slice(2);
const stderr = fs.readFileSync(errFile, 'utf8');
let report;
try {
  report = JSON.parse(fs.readFileSync(outFile, 'utf8'));
} catch {
  report = undefined;
}

const counts = report?.metadata?.vulnerabilities;
if (report?.auditReportVersion !== undefined && counts) {
  const serious = (counts.high ?? 0) + (counts.critical ?? 0);
  if (serious === 0) {
    if (process.env.AUDIT_STATUS !== '0') {
      process.stderr.write(`audit.sh: npm audit failed without high or critical findings:\n${stderr}`);
      process.exit(2);
    }
    console.log(`audit.sh: no high or critical advisories in production dependencies (${counts.total ?? 0} lower)`);
    process.exit(0);
  }
  console.log(`audit.sh: FAILED: ${counts.critical ?? 0} critical and ${counts.high ?? 0} high advisories in production dependencies`);
  for (const v of Object.values(report.vulnerabilities ?? {})) {
    if (v.severity !== 'high' && v.severity !== 'critical') continue;
    const advisories = (v.via ?? []).filter((a) => typeof a === 'object').map((a) => `${a.title} (${a.url})`);
    const via = advisories.length > 0 ? advisories.join('; ') : `through ${(v.via ?? []).join(', ')}`;
    const fix = v.fixAvailable ? 'fix available' : 'no fix available';
    console.log(`  ${v.severity.padEnd(8)} ${v.name}${v.range ? ` ${v.range}` : ''}: ${via}; ${fix}`);
  }
  process.exit(1);
}

// No report: did the audit service fail (unreachable, or an error status such as 405)?
const message = String(report?.message ?? '');
const serviceDown =
  /audit endpoint returned an error/.test(stderr) ||
  /\/-\/npm\/v1\/security\//.test(message) ||
  report?.statusCode !== undefined;
if (serviceDown) {
  const why = message || stderr.split('\n').find((l) => /npm (warn|error) audit/.test(l)) || 'no answer';
  console.log(`audit.sh: WARNING: the dependency audit could not run: the audit service did not answer (${why}); no result either way`);
  process.exit(0);
}
process.stderr.write(`audit.sh: npm audit failed (${report?.error?.code ?? `exit ${process.env.AUDIT_STATUS}`}):\n${stderr}`);
process.exit(2);
EOF
