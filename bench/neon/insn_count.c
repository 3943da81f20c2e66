/* A QEMU TCG plugin (API version 1, QEMU 7.2+) for bench/neon_profile.py: counts the guest
 * instructions executed per symbol, and the vector popcounts (AArch64 CNT Vd.8B/16B) among them.
 * Each time the guest enters the symbol `neon_profile_mark` it prints one line to QEMU's log
 * (stderr): "mark <total> <cnt> <symbol>=<count> ...", the counters since the start (symbols with
 * a count only), so that the differences between two marks are what ran between them.
 * Single-threaded guests only (the counters are plain inline adds). */
#include <qemu-plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MAX_SYMS 4096
typedef struct {
  const char* name;
  uint64_t count;
} sym_count;

static sym_count syms[MAX_SYMS];
static int n_syms;
static uint64_t total, popcounts;

static sym_count* slot(const char* name) {
  for (int i = 0; i < n_syms; ++i)
    if (!strcmp(syms[i].name, name)) return &syms[i];
  if (n_syms == MAX_SYMS) return &syms[MAX_SYMS - 1]; /* the last slot collects the overflow */
  syms[n_syms].name = strdup(name);
  return &syms[n_syms++];
}

static void on_mark(unsigned int vcpu, void* udata) {
  (void)vcpu, (void)udata;
  size_t cap = 64 + (size_t)n_syms * 96, len = 0;
  char* line = malloc(cap);
  if (!line) return;
  len += snprintf(line + len, cap - len, "mark %llu %llu", (unsigned long long)total, (unsigned long long)popcounts);
  for (int i = 0; i < n_syms && len < cap; ++i)
    if (syms[i].count) len += snprintf(line + len, cap - len, " %s=%llu", syms[i].name, (unsigned long long)syms[i].count);
  if (len < cap) snprintf(line + len, cap - len, "\n");
  qemu_plugin_outs(line);
  free(line);
}

/* AArch64 CNT (vector): 0 Q 0 01110 size 10000 00101 10 Rn Rd */
static int is_vector_cnt(const struct qemu_plugin_insn* insn) {
  uint32_t op;
  if (qemu_plugin_insn_size(insn) != 4) return 0;
  memcpy(&op, qemu_plugin_insn_data(insn), 4);
  return (op & 0xbffffc00u) == 0x0e205800u;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  for (size_t i = 0, n = qemu_plugin_tb_n_insns(tb); i < n; ++i) {
    struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    const char* name = qemu_plugin_insn_symbol(insn);
    if (!name) name = "?";
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &slot(name)->count, 1);
    if (is_vector_cnt(insn))
      qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &popcounts, 1);
    if (i == 0 && !strcmp(name, "neon_profile_mark"))
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
  }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc, char** argv) {
  (void)info, (void)argc, (void)argv;
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  return 0;
}
