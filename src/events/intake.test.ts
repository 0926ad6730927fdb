import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { notJson } from "./intake.ts";

describe("notJson", () => {
  it("says only that the body is not JSON when it was sent as JSON, or untyped", () => {
    for (const type of [undefined, "", "application/json", "Application/JSON; charset=utf-8"]) {
      assert.equal(notJson(type), "the body is not JSON");
    }
  });

  it("names a form or multipart type, without its parameters", () => {
    assert.equal(
      notJson("application/x-www-form-urlencoded"),
      "the body is not JSON (it was sent as application/x-www-form-urlencoded; set the webhook's content type to application/json)",
    );
    assert.match(notJson("multipart/form-data; boundary=secret-looking"), /sent as multipart\/form-data;/);
    assert.doesNotMatch(notJson("multipart/form-data; boundary=secret-looking"), /boundary/);
  });

  it("does not echo a header that is not a media type", () => {
    for (const type of ["<script>alert(1)</script>", `text/${"x".repeat(500)}`, "text/plain\r\nX-Injected: 1"]) {
      assert.match(notJson(type), /sent as another type;/);
    }
  });
});
