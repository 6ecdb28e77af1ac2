/*
 * core.h: the public interface of src/core, the bottom layer of Staunch. It depends on
 * nothing of ours (ARCHITECTURE.md §1): error type, memory, arenas, buffers, string views,
 * logging, UTF-8, codecs, dates and configuration.
 */
#ifndef STAUNCH_CORE_CORE_H
#define STAUNCH_CORE_CORE_H

#include "core/core_arena.h"
#include "core/core_buf.h"
#include "core/core_codec.h"
#include "core/core_conf.h"
#include "core/core_err.h"
#include "core/core_log.h"
#include "core/core_mem.h"
#include "core/core_str.h"
#include "core/core_time.h"
#include "core/core_utf8.h"

#endif
