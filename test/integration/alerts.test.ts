// The alerts in config/monitoring/prometheusrule.yaml, judged by Prometheus's own rule evaluator: `promtool test
// rules` runs the cases in config/monitoring/tests/, and every alert has a case where it fires and one where a
// healthy (or recovering) operator keeps it quiet.
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { parse, stringify } from "yaml";
import { promtool } from "../support/promtool.ts";

const monitoring = join(import.meta.dirname, "../../config/monitoring");

interface RuleTests {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

async function alertNames(): Promise<string[]> {
  const rule = parse(await readFile(join(monitoring, "prometheusrule.yaml"), "utf8")) as {
    spec: { groups: { rules: { alert?: string }[] }[] };
  };
  return rule.spec.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
}

async function testFiles(): Promise<string[]> {
  return (await readdir(join(monitoring, "tests"))).filter((f) => f.endsWith(".yaml")).sort();
}

type Groups = { rules: { alert?: string; expr: string }[] }[];

/** promtool reads plain rule files: writes the PrometheusRule's groups (after `edit`) to rules.yaml in a fresh dir. */
async function ruleFile(t: TestContext, edit: (groups: Groups) => void = () => {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "baton-rules-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const rule = parse(await readFile(join(monitoring, "prometheusrule.yaml"), "utf8")) as { spec: { groups: Groups } };
  edit(rule.spec.groups);
  await writeFile(join(dir, "rules.yaml"), stringify({ groups: rule.spec.groups }));
  return dir;
}

test("promtool check rules accepts the PrometheusRule's groups", async (t) => {
  const dir = await ruleFile(t);
  const result = await promtool(["check", "rules", "rules.yaml"], { cwd: dir });
  assert.equal(result.code, 0, `promtool check rules failed:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, new RegExp(`SUCCESS: ${(await alertNames()).length} rules found`));
});

test("promtool check rules refuses a broken expression (the check can fail)", async (t) => {
  const dir = await ruleFile(t, (groups) => {
    const first = groups[0]?.rules[0];
    assert.ok(first);
    first.expr = "sum(rate(baton_token_rotations_total[5m]) > ";
  });
  const result = await promtool(["check", "rules", "rules.yaml"], { cwd: dir });
  assert.notEqual(result.code, 0, result.stdout);
  assert.match(result.stderr + result.stdout, /parse error|unclosed/i);
});

test("promtool test rules passes every case in config/monitoring/tests", async (t) => {
  const dir = await ruleFile(t);
  const files = await testFiles();
  assert.ok(files.length > 0, "no promtool rule tests in config/monitoring/tests");
  for (const file of files) await copyFile(join(monitoring, "tests", file), join(dir, file));

  const result = await promtool(["test", "rules", ...files], { cwd: dir });
  assert.equal(result.code, 0, `promtool test rules failed:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /SUCCESS/);
});

test("every alert has a case where it fires and one where it stays quiet", async () => {
  const fires = new Set<string>();
  const quiet = new Set<string>();
  for (const file of await testFiles()) {
    const suite = parse(await readFile(join(monitoring, "tests", file), "utf8")) as RuleTests;
    assert.deepEqual(suite.rule_files, ["rules.yaml"], `${file} must test the PrometheusRule's groups`);
    for (const c of suite.tests.flatMap((s) => s.alert_rule_test ?? [])) {
      ((c.exp_alerts ?? []).length > 0 ? fires : quiet).add(c.alertname);
    }
  }
  const alerts = await alertNames();
  assert.ok(alerts.length > 0);
  assert.deepEqual(
    alerts.filter((a) => !fires.has(a)),
    [],
    "alerts without a firing case",
  );
  assert.deepEqual(
    alerts.filter((a) => !quiet.has(a)),
    [],
    "alerts without a quiet case",
  );
});
