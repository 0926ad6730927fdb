import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { filePath, queryString, segment, withSubPath } from "../http/url.ts";
import { repositoryPath, scopePath } from "./url.ts";

describe("paths and queries", () => {
  const files: [string, string][] = [
    [".tekton/pipeline.yaml", ".tekton/pipeline.yaml"],
    ["/dir with space/file name.yaml", "dir%20with%20space/file%20name.yaml"],
    ["ünïcode/日本.yaml", "%C3%BCn%C3%AFcode/%E6%97%A5%E6%9C%AC.yaml"],
    ["a//b/", "a/b"],
    ["q?x#y%z", "q%3Fx%23y%25z"],
    ["plus+and&amp", "plus%2Band%26amp"],
  ];
  for (const [path, encoded] of files) {
    test(`file path ${JSON.stringify(path)}`, () => assert.equal(filePath(path), encoded));
  }

  test("dot segments are refused rather than resolved", () => {
    assert.throws(() => filePath("a/../b"), TypeError);
    assert.throws(() => segment("."), TypeError);
    assert.throws(() => segment(""), TypeError);
  });

  test("personal projects and slugs", () => {
    assert.equal(repositoryPath({ project: "~jdoe", repository: "my repo" }), "/projects/~jdoe/repos/my%20repo");
    assert.equal(scopePath({ project: "PRJ" }), "/projects/PRJ");
    assert.equal(scopePath({ project: "PRJ", repository: "r" }), "/projects/PRJ/repos/r");
    assert.equal(segment("a/b"), "a%2Fb");
  });

  test("an empty sub-path means the root", () => {
    assert.equal(withSubPath("/files", ""), "/files");
    assert.equal(withSubPath("/files", "/"), "/files");
    assert.equal(withSubPath("/files", ".tekton"), "/files/.tekton");
  });

  test("query strings skip undefined and repeat arrays", () => {
    assert.equal(queryString(undefined), "");
    assert.equal(queryString({ a: undefined }), "");
    assert.equal(
      queryString({ filter: "jo hn+x", "permission.projectKey": "~u", n: 3, t: true, p: ["A", "B"] }),
      "?filter=jo+hn%2Bx&permission.projectKey=%7Eu&n=3&t=true&p=A&p=B",
    );
  });
});
