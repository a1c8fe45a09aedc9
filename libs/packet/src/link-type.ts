/**
 * LINKTYPE_* values as they appear in pcap/pcapng files (tcpdump.org link-layer header types).
 * Note DLT_RAW is 12 in headers but LINKTYPE_RAW is 101 in files.
 */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const
export type LinkType = (typeof LinkType)[keyof typeof LinkType]

/** Maps the link type names libpcap bindings report (cap: 'ETHERNET', 'LINKTYPE_LINUX_SLL'...). */
export function linkTypeFromName(name: string): number | undefined {
  const m = /^Unknown linktype (\d+)$/.exec(name)
  if (m) return Number(m[1])
  const key = name.replace(/^(LINKTYPE_|DLT_)/, '') as keyof typeof LinkType
  return LinkType[key]
}

export function linkTypeName(linkType: number): string {
  for (const [name, value] of Object.entries(LinkType)) if (value === linkType) return name
  return `LINKTYPE_${linkType}`
}
