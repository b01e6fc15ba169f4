import { describe, expect, it } from "vitest"
import { docIdFromPath, parseDocInput } from "../../src/docid"

const id = "4NMNnkMhL8jXrdJ9jamS58PAVdXu"

describe("parseDocInput", () => {
  it.each([
    ["bare id", id],
    ["with spaces", `  ${id}\n`],
    ["weft link", `https://weft.example.com/d/${id}`],
    ["weft link with query", `http://127.0.0.1:8080/d/${id}?x=1#y`],
    ["path", `/d/${id}`],
    ["automerge URL", `automerge:${id}`],
    ["automerge URL with heads", `automerge:${id}#2Xg7|3Pq`],
  ])("accepts a %s", (_name, input) => {
    expect(parseDocInput(input)).toBe(id)
  })

  it.each([
    ["empty", ""],
    ["bad checksum", id.slice(0, -1) + "X"],
    ["other page", "https://example.com/"],
    ["words", "hello world"],
  ])("rejects %s", (_name, input) => {
    expect(parseDocInput(input)).toBeNull()
  })
})

describe("docIdFromPath", () => {
  it("reads /d/<id>", () => {
    expect(docIdFromPath(`/d/${id}`)).toBe(id)
    expect(docIdFromPath(`/d/${id}/`)).toBe(id)
    expect(docIdFromPath("/")).toBeNull()
    expect(docIdFromPath(`/x/${id}`)).toBeNull()
  })
})
