import { next as am } from "@automerge/automerge/slim"
import { SchemaAdapter, type MappedSchemaSpec } from "@automerge/prosemirror"
import type { DOMOutputSpec, Mark, Node } from "prosemirror-model"

/**
 * The ProseMirror schema of weft documents and its mapping to Automerge rich text (block markers
 * and marks in the `text` field, as @automerge/prosemirror stores them).
 *
 * It follows @automerge/prosemirror's basic schema with three changes: inline `code` is mapped to
 * an Automerge mark (the basic schema leaves it unmapped, so it would not reach other people),
 * links only keep safe URL schemes, and there is no horizontal rule (it has no block mapping).
 */

/** Only these URL schemes survive in a link; anything else renders as a link to nowhere. */
export function safeHref(href: unknown): string {
  if (typeof href !== "string") return ""
  const s = href.trim()
  if (/^(https?:|mailto:|tel:)/i.test(s)) return s
  if (/^(\/|#)/.test(s)) return s
  return ""
}

/** Adds https:// to what the user typed when it has no scheme ("example.com/x"). */
export function normalizeHref(input: string): string {
  const s = input.trim()
  if (!s) return ""
  if (/^[a-z][a-z0-9+.-]*:/i.test(s) || s.startsWith("/") || s.startsWith("#")) return safeHref(s)
  if (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s)) return `mailto:${s}`
  return `https://${s}`
}

const spec: MappedSchemaSpec = {
  nodes: {
    doc: { content: "block+" },
    paragraph: {
      automerge: { block: "paragraph" },
      content: "inline*",
      group: "block",
      parseDOM: [{ tag: "p" }],
      toDOM: (): DOMOutputSpec => ["p", 0],
    },
    unknownBlock: {
      automerge: { unknownBlock: true },
      group: "block",
      content: "block+",
      parseDOM: [{ tag: "div", attrs: { "data-unknown-block": "true" } }],
      toDOM: (): DOMOutputSpec => ["div", { "data-unknown-block": "true" }, 0],
    },
    blockquote: {
      automerge: { block: "blockquote" },
      content: "block+",
      group: "block",
      defining: true,
      parseDOM: [{ tag: "blockquote" }],
      toDOM: (): DOMOutputSpec => ["blockquote", 0],
    },
    heading: {
      automerge: {
        block: "heading",
        attrParsers: {
          fromAutomerge: block => ({ level: clampLevel(block.attrs.level) }),
          fromProsemirror: (node: Node) => ({ level: node.attrs.level }),
        },
      },
      attrs: { level: { default: 1 } },
      content: "inline*",
      group: "block",
      defining: true,
      parseDOM: [1, 2, 3, 4, 5, 6].map(level => ({ tag: `h${level}`, attrs: { level } })),
      toDOM: (node: Node): DOMOutputSpec => [`h${clampLevel(node.attrs.level)}`, 0],
    },
    code_block: {
      automerge: { block: "code-block" },
      content: "text*",
      marks: "",
      group: "block",
      code: true,
      defining: true,
      parseDOM: [{ tag: "pre", preserveWhitespace: "full" }],
      toDOM: (): DOMOutputSpec => ["pre", { spellcheck: "false" }, ["code", 0]],
    },
    text: { group: "inline" },
    image: {
      automerge: {
        block: "image",
        isEmbed: true,
        attrParsers: {
          fromAutomerge: block => ({
            src: block.attrs.src?.toString() || null,
            alt: block.attrs.alt,
            title: block.attrs.title,
          }),
          fromProsemirror: (node: Node) => ({
            src: new am.ImmutableString(node.attrs.src),
            alt: node.attrs.alt,
            title: node.attrs.title,
          }),
        },
      },
      inline: true,
      attrs: { src: {}, alt: { default: null }, title: { default: null } },
      group: "inline",
      draggable: true,
      parseDOM: [
        {
          tag: "img[src]",
          getAttrs: dom => ({
            src: (dom as HTMLElement).getAttribute("src"),
            title: (dom as HTMLElement).getAttribute("title"),
            alt: (dom as HTMLElement).getAttribute("alt"),
          }),
        },
      ],
      toDOM: (node: Node): DOMOutputSpec => {
        const { src, alt, title } = node.attrs
        return ["img", { src: /^(https?:|data:image\/)/.test(String(src)) ? src : "", alt, title }]
      },
    },
    ordered_list: {
      group: "block",
      content: "list_item+",
      attrs: { order: { default: 1 } },
      parseDOM: [
        {
          tag: "ol",
          getAttrs: dom => ({
            order: (dom as HTMLElement).hasAttribute("start") ? +((dom as HTMLElement).getAttribute("start") ?? 1) : 1,
          }),
        },
      ],
      toDOM: (node: Node): DOMOutputSpec => (node.attrs.order == 1 ? ["ol", 0] : ["ol", { start: node.attrs.order }, 0]),
    },
    bullet_list: {
      content: "list_item+",
      group: "block",
      parseDOM: [{ tag: "ul" }],
      toDOM: (): DOMOutputSpec => ["ul", 0],
    },
    list_item: {
      automerge: {
        block: { within: { ordered_list: "ordered-list-item", bullet_list: "unordered-list-item" } },
      },
      content: "paragraph block*",
      parseDOM: [{ tag: "li" }],
      toDOM: (): DOMOutputSpec => ["li", 0],
      defining: true,
    },
    aside: {
      automerge: { block: "aside" },
      content: "block+",
      group: "block",
      defining: true,
      parseDOM: [{ tag: "aside" }],
      toDOM: (): DOMOutputSpec => ["aside", 0],
    },
  },
  marks: {
    link: {
      attrs: { href: {}, title: { default: null } },
      inclusive: false,
      parseDOM: [
        {
          tag: "a[href]",
          getAttrs: dom => ({
            href: safeHref((dom as HTMLElement).getAttribute("href")),
            title: (dom as HTMLElement).getAttribute("title"),
          }),
        },
      ],
      toDOM: (mark: Mark): DOMOutputSpec => {
        const href = safeHref(mark.attrs.href)
        return ["a", { href: href || null, title: mark.attrs.title || href || null, rel: "noopener noreferrer nofollow" }, 0]
      },
      automerge: {
        markName: "link",
        parsers: {
          fromAutomerge: (value: am.MarkValue) => {
            if (typeof value === "string") {
              try {
                const v = JSON.parse(value)
                return { href: safeHref(v.href), title: typeof v.title === "string" ? v.title : "" }
              } catch {
                // not JSON: some clients store the bare URL
                return { href: safeHref(value), title: "" }
              }
            }
            return { href: "", title: "" }
          },
          fromProsemirror: (mark: Mark) => JSON.stringify({ href: mark.attrs.href, title: mark.attrs.title ?? "" }),
        },
      },
    },
    em: {
      parseDOM: [
        { tag: "i" },
        { tag: "em" },
        { style: "font-style=italic" },
        { style: "font-style=normal", clearMark: m => m.type.name == "em" },
      ],
      toDOM: (): DOMOutputSpec => ["em", 0],
      automerge: { markName: "em" },
    },
    strong: {
      parseDOM: [
        { tag: "strong" },
        { tag: "b", getAttrs: node => (node as HTMLElement).style.fontWeight != "normal" && null },
        { style: "font-weight=400", clearMark: m => m.type.name == "strong" },
        { style: "font-weight", getAttrs: value => /^(bold(er)?|[5-9]\d{2,})$/.test(value as string) && null },
      ],
      toDOM: (): DOMOutputSpec => ["strong", 0],
      automerge: { markName: "strong" },
    },
    code: {
      parseDOM: [{ tag: "code" }],
      toDOM: (): DOMOutputSpec => ["code", 0],
      automerge: { markName: "code" },
    },
  },
}

function clampLevel(level: unknown): number {
  const n = Number(level)
  return Number.isInteger(n) && n >= 1 && n <= 6 ? n : 1
}

export const schemaAdapter = new SchemaAdapter(spec)
export const schema = schemaAdapter.schema
