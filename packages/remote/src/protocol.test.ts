import { describe, expect, it } from "vitest";
import { duplicateMemberName } from "./protocol.js";

describe("duplicateMemberName", () => {
  it.each([
    ['{"a":1,"a":2}', "a"],
    ['{"a":{"b":1},"a":2}', "a"],
    ['{"x":[{"a":1,"b":{"c":1,"c":2}}]}', "c"],
    ['{"a\\"b":1,"a\\"b":2}', 'a"b'],
    ['{"a\\\\":1,"a\\\\":2}', "a\\"],
    ['{"\\u00e9":1,"\u00e9":2}', "\u00e9"],
    [' { "a" : 1 , "a" : 2 } ', "a"],
  ])("finds the name given twice in %s", (text, name) => {
    JSON.parse(text);
    expect(duplicateMemberName(text)).toBe(name);
  });

  it.each([
    ["an empty object", "{}"],
    ["an array", "[]"],
    ["a string", '"a"'],
    ["one name in sibling objects", '[{"a":1},{"a":2}]'],
    ["one name at each depth", '{"a":{"a":{"a":1}}}'],
    ["duplicates inside strings", '{"a":"\\"a\\":1,\\"a\\":2","b":["a","a"]}'],
    ["names that differ by case or a space", '{"a":1,"A":2,"a ":3}'],
    ["10,000 nested arrays", `${"[".repeat(10_000)}${"]".repeat(10_000)}`],
    ["5,000 nested objects", `${'{"a":'.repeat(5_000)}1${"}".repeat(5_000)}`],
  ])("finds none in %s", (_name, text) => {
    JSON.parse(text);
    expect(duplicateMemberName(text)).toBeUndefined();
  });
});
