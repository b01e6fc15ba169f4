/** The local user's display name and colour, chosen once and remembered in localStorage. */

export const PALETTE = [
  "#e5484d", "#f76b15", "#d6a100", "#30a46c", "#12a594", "#0090ff",
  "#3e63dd", "#8e4ec6", "#d6409f", "#a18072", "#5b8a00", "#0d74ce",
]

const NAME_KEY = "weft:name"
const COLOR_KEY = "weft:color"

function storage(): Storage | null {
  try {
    return window.localStorage
  } catch {
    return null // blocked (third-party iframe, privacy mode)
  }
}

export interface Identity {
  name: string
  color: string
}

/** The remembered name, or null if the user has not picked one yet. */
export function savedName(): string | null {
  const n = storage()?.getItem(NAME_KEY)?.trim()
  return n ? n : null
}

export function saveName(name: string): void {
  storage()?.setItem(NAME_KEY, name.trim().slice(0, 40))
}

export function identity(): Identity {
  const s = storage()
  let color = s?.getItem(COLOR_KEY) ?? ""
  if (!PALETTE.includes(color)) {
    color = PALETTE[Math.floor(Math.random() * PALETTE.length)]
    s?.setItem(COLOR_KEY, color)
  }
  return { name: savedName() ?? "Anonymous", color }
}

const ANIMALS = ["Otter", "Heron", "Lynx", "Badger", "Falcon", "Marten", "Ibis", "Fox", "Wren", "Seal", "Hare", "Kestrel"]

/** A friendly placeholder for the name field. */
export function suggestedName(): string {
  return `Anonymous ${ANIMALS[Math.floor(Math.random() * ANIMALS.length)]}`
}

/** Up to two initials for an avatar. */
export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean)
  if (parts.length === 0) return "?"
  const first = [...parts[0]][0] ?? ""
  const second = parts.length > 1 ? [...parts[parts.length - 1]][0] ?? "" : ""
  return (first + second).toUpperCase()
}
