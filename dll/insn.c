/* Instruction lengths and control flow, x64 or x86 (the mode this DLL is
 * built for): enough of the decoder to walk compiled code linearly and know
 * where every instruction ends and where each direct branch, call or return
 * goes. The installer uses it to read the bytes it overwrites and the code
 * around them (patch.c, code.c).
 *
 * It decodes the general-purpose, x87, MMX/SSE (0F, 0F 38, 0F 3A maps) and
 * VEX/EVEX encodings. Anything else (3DNow!, XOP, 16-bit addressing in
 * 32-bit code, a 16-bit operand size on a relative branch, an opcode invalid
 * in the mode) decodes as unknown (`len` 0): the caller then cannot prove
 * what the bytes do and refuses. */
#include "heapshift.h"

/* One-byte opcode map, a class per opcode:
 *   .  no operand bytes        m  ModRM            b  ModRM + imm8
 *   z  ModRM + imm16/32        1  imm8             2  imm16
 *   4  imm16/32                a  moffs (address-sized)
 *   r  rel8 branch             R  rel16/32 branch or call
 *   p  prefix                  S  special (see decode_special)
 *   x  unknown */
static const char one_byte[257] =
    "mmmm14..mmmm14.S" /* 00 */
    "mmmm14..mmmm14.." /* 10 */
    "mmmm14p.mmmm14p." /* 20 */
    "mmmm14p.mmmm14p." /* 30 */
    "................" /* 40 (REX in x64: taken as a prefix first) */
    "................" /* 50 */
    "..Smpppp4z1b...." /* 60 */
    "rrrrrrrrrrrrrrrr" /* 70 */
    "bzbbmmmmmmmmmmmm" /* 80 */
    "..........S....." /* 90 */
    "aaaa....14......" /* A0 */
    "11111111SSSSSSSS" /* B0 */
    "bb2.SSbzS.2..1.." /* C0 */
    "mmmm11..mmmmmmmm" /* D0 */
    "rrrr1111RRSr...." /* E0 */
    "p.pp..SS......mm"; /* F0 */

/* Two-byte map (0F xx), same classes. */
static const char two_byte[257] =
    "mmmmx.....x.xm.x" /* 00: 0F 0B ud2, 0F 0F 3DNow! (unknown) */
    "mmmmmmmmmmmmmmmm" /* 10 */
    "mmmmxxxxmmmmmmmm" /* 20 */
    "......x.SxSxxxxx" /* 30: 0F 38, 0F 3A three-byte maps */
    "mmmmmmmmmmmmmmmm" /* 40 */
    "mmmmmmmmmmmmmmmm" /* 50 */
    "mmmmmmmmmmmmmmmm" /* 60 */
    "bbbbmmm.mmxxmmmm" /* 70 */
    "RRRRRRRRRRRRRRRR" /* 80: jcc rel32 */
    "mmmmmmmmmmmmmmmm" /* 90 */
    "...mbmxx...mbmmm" /* A0 */
    "mmmmmmmmmmbmmmmm" /* B0 */
    "mmbmbbbm........" /* C0 */
    "mmmmmmmmmmmmmmmm" /* D0 */
    "mmmmmmmmmmmmmmmm" /* E0 */
    "mmmmmmmmmmmmmmmm"; /* F0 */

#if HS_X64
#define MODE64 1
#else
#define MODE64 0
#endif

/* Opcodes that do not exist in 64-bit mode. */
static BOOL invalid_in_64(uint8_t op) {
  switch (op) {
    case 0x06: case 0x07: case 0x0E: case 0x16: case 0x17: case 0x1E:
    case 0x1F: case 0x27: case 0x2F: case 0x37: case 0x3F: case 0x60:
    case 0x61: case 0x82: case 0x9A: case 0xCE: case 0xD4: case 0xD5:
    case 0xD6: case 0xEA:
      return TRUE;
  }
  return FALSE;
}

typedef struct cursor {
  const uint8_t* p;   /* next byte */
  const uint8_t* at;  /* the instruction's first byte */
  BOOL opsize16;      /* 66 */
  BOOL addrsize;      /* 67 */
  BOOL rex_w;
  uint8_t modrm;
  const uint8_t* disp_only; /* mod 0, r/m 5: the disp32 operand (RIP-relative in x64) */
} cursor;

/* ModRM (+ SIB + displacement); FALSE for forms not decoded here. */
static BOOL take_modrm(cursor* c) {
  if (!MODE64 && c->addrsize) return FALSE; /* 16-bit addressing */
  uint8_t m = *c->p++;
  c->modrm = m;
  unsigned mod = m >> 6, rm = m & 7;
  if (mod == 3) return TRUE;
  if (rm == 4) {
    uint8_t sib = *c->p++;
    if (mod == 0 && (sib & 7) == 5) c->p += 4;
  } else if (mod == 0 && rm == 5) {
    c->disp_only = c->p;
    c->p += 4;
  }
  if (mod == 1) c->p += 1;
  else if (mod == 2) c->p += 4;
  return TRUE;
}

static unsigned immz(const cursor* c) {
  return c->opsize16 && !c->rex_w ? 2 : 4;
}

/* The operands of a class; FALSE for `x`/`S` and forms not decoded. */
static BOOL take_class(cursor* c, char k) {
  switch (k) {
    case '.': return TRUE;
    case 'm': return take_modrm(c);
    case 'b': if (!take_modrm(c)) return FALSE; c->p += 1; return TRUE;
    case 'z': if (!take_modrm(c)) return FALSE; c->p += immz(c); return TRUE;
    case '1': c->p += 1; return TRUE;
    case '2': c->p += 2; return TRUE;
    case '4': c->p += immz(c); return TRUE;
    case 'a':
      if (!MODE64 && c->addrsize) return FALSE;
      c->p += MODE64 && !c->addrsize ? 8 : 4;
      return TRUE;
  }
  return FALSE;
}

/* VEX (C4/C5) or EVEX (62): the prefix, then opcode, ModRM, imm8. */
static BOOL take_vex(cursor* c, uint8_t kind) {
  unsigned map;
  if (kind == 0xC5) {
    c->p += 1;
    map = 1;
  } else if (kind == 0xC4) {
    map = c->p[0] & 0x1F;
    c->p += 2;
  } else { /* 62: EVEX, P0 P1 P2 */
    map = c->p[0] & 0x03;
    c->p += 3;
  }
  if (map < 1 || map > 3) return FALSE;
  uint8_t op = *c->p++;
  if (map == 1 && op == 0x77 && kind != 0x62) return TRUE; /* vzeroupper */
  if (!take_modrm(c)) return FALSE;
  if (map == 3 || (map == 1 && two_byte[op] == 'b')) c->p += 1;
  return TRUE;
}

static BOOL take_two_byte(cursor* c, hs_insn* out) {
  uint8_t op = *c->p++;
  char k = two_byte[op];
  if (k == 'R') {
    if (c->opsize16) return FALSE;
    c->p += 4;
    out->kind = HS_INSN_JCC;
    out->target = c->p + *(const int32_t*)(c->p - 4);
    return TRUE;
  }
  if (k == 'S') { /* 0F 38 xx: ModRM; 0F 3A xx: ModRM + imm8 */
    c->p++;
    if (!take_modrm(c)) return FALSE;
    if (op == 0x3A) c->p += 1;
    return TRUE;
  }
  if (op == 0x0B) out->kind = HS_INSN_END; /* ud2 */
  return take_class(c, k);
}

/* The one-byte opcodes marked S. */
static BOOL take_special(cursor* c, uint8_t op, hs_insn* out) {
  switch (op) {
    case 0x0F: return take_two_byte(c, out);
    case 0x62: case 0xC4: case 0xC5:
      /* x86: LES/LDS/BOUND unless the next byte has mod 11 (VEX/EVEX). */
      if (MODE64 || (c->p[0] >> 6) == 3) return take_vex(c, op);
      return take_modrm(c);
    case 0x9A: case 0xEA: /* far call/jmp ptr16:32 (x86 only) */
      c->p += c->opsize16 ? 4 : 6;
      out->kind = op == 0xEA ? HS_INSN_END : HS_INSN_CALL_IND;
      return TRUE;
    case 0xC8: c->p += 3; return TRUE; /* enter imm16, imm8 */
    case 0xF6: case 0xF7: {
      if (!take_modrm(c)) return FALSE;
      if (((c->modrm >> 3) & 7) < 2) c->p += op == 0xF6 ? 1 : immz(c);
      return TRUE;
    }
  }
  if (op >= 0xB8 && op <= 0xBF) { /* mov r, imm16/32/64 */
    c->p += c->rex_w ? 8 : immz(c);
    return TRUE;
  }
  return FALSE;
}

BOOL hs_insn_decode(const uint8_t* p, hs_insn* out) {
  cursor c;
  memset(&c, 0, sizeof c);
  memset(out, 0, sizeof *out);
  c.p = c.at = p;
  out->kind = HS_INSN_NEXT;
  uint8_t op;
  for (;;) {
    op = *c.p++;
    if (c.p - c.at > 15) return FALSE;
    if (one_byte[op] == 'p') {
      if (op == 0x66) c.opsize16 = TRUE;
      if (op == 0x67) c.addrsize = TRUE;
      c.rex_w = FALSE; /* a REX counts only right before the opcode */
      continue;
    }
    if (MODE64 && (op & 0xF0) == 0x40) {
      c.rex_w = (op & 8) != 0;
      continue;
    }
    break;
  }
  if (MODE64 && invalid_in_64(op)) return FALSE;
  char k = one_byte[op];
  BOOL ok;
  if (k == 'r' || k == 'R') {
    if (c.opsize16) return FALSE;
    unsigned n = k == 'r' ? 1 : 4;
    c.p += n;
    int32_t rel = n == 1 ? *(const int8_t*)(c.p - 1)
                         : *(const int32_t*)(c.p - 4);
    out->target = c.p + rel;
    out->kind = op == 0xE8   ? HS_INSN_CALL
                : op == 0xE9 || op == 0xEB ? HS_INSN_JMP
                                           : HS_INSN_JCC;
    ok = TRUE;
  } else if (k == 'S') {
    ok = take_special(&c, op, out);
  } else {
    ok = take_class(&c, k);
    if (op == 0xC2 || op == 0xC3 || op == 0xCA || op == 0xCB || op == 0xCF ||
        op == 0xCC || op == 0xF4) {
      out->kind = HS_INSN_END; /* returns, int3, hlt: no fall-through */
    } else if (op == 0xFF) {
      unsigned reg = (c.modrm >> 3) & 7;
      if (reg == 2 || reg == 3) out->kind = HS_INSN_CALL_IND;
      if (reg == 4 || reg == 5) out->kind = HS_INSN_JMP_IND;
      if (reg == 7) ok = FALSE;
    } else if (op == 0xFE && ((c.modrm >> 3) & 7) > 1) {
      ok = FALSE;
    } else if (op == 0x8F && ((c.modrm >> 3) & 7) != 0) {
      ok = FALSE; /* XOP (AMD), not pop r/m */
    }
  }
  if (!ok || c.p - c.at > 15) return FALSE;
  out->len = (unsigned)(c.p - c.at);
  if (c.disp_only) {
    int32_t d = *(const int32_t*)c.disp_only;
    out->mem = MODE64 ? c.p + d : (const uint8_t*)(uintptr_t)(uint32_t)d;
  }
  out->modrm_reg = (uint8_t)((c.modrm >> 3) & 7);
  return TRUE;
}
