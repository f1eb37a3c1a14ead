// Simulated physical memory: 4 KiB frames with Linux-like descriptors (struct page), and the contents of the
// frames that hold page tables. Data frames carry a 64-bit content tag instead of 4 KiB of data.
#pragma once

#include "odf/pte.hpp"
#include "odf/types.hpp"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace odf {

enum class FrameKind : std::uint8_t {
    Free = 0,
    Anon,     // anonymous private data page
    AnonHuge, // head frame of a 2 MiB anonymous page (the 511 frames after it belong to it)
    Shmem,    // page of a shared anonymous mapping (a shmem object holds one reference)
    ZeroPage, // the shared zero page
    HugeZero, // head frame of the huge zero page
    PteTable, // level 1
    PmdTable, // level 2
    PudTable, // level 3
    PgdTable, // level 4
};

[[nodiscard]] constexpr bool is_table(FrameKind k) {
    return k == FrameKind::PteTable || k == FrameKind::PmdTable || k == FrameKind::PudTable || k == FrameKind::PgdTable;
}

// Frame flags (a 3-bit field of Frame).
enum FrameFlag : std::uint8_t {
    kAnonExclusive = 1,  // PG_anon_exclusive: the page is mapped by exactly one process and may be reused
    kTableExclusive = 2, // ODF: COW_PTE_OWNER_EXCLUSIVE: the table held a pinned page; never shared at fork
};

// What a page-table frame keeps in the place of a data frame's content tag.
struct TableIds {
    std::uint32_t owner; // PTE tables (ODF): the id of the mm that owns the table (0: no owner)
    std::uint32_t slot;  // index of the table's contents in PhysMem's table store
};

// struct page, reduced to what fork and the fault path read, in 16 bytes (a simulated TiB has 256 Mi of them).
// All-zero is a free frame. The FOLL_PIN count is not here: pins are rare, so PhysMem keeps them in a map and
// `pinned` says whether the frame has an entry there (the hot paths test the bit, never the map).
struct Frame {
    static constexpr std::int32_t kMaxRefcount = 0x7fffffff;
    static constexpr std::int32_t kMaxMapcount = (1 << 23) - 1; // a 24-bit signed field

    union {
        std::uint64_t content;   // data frames: the content tag (what the page's first word holds; 0: never written)
        TableIds tbl;            // table frames
        std::uint64_t next_free; // free 4 KiB frames: the next free frame + 1 (PhysMem's free list; 0: the last)
    };
    std::int32_t refcount;      // data: mappings + pins (+1 page cache for shmem); tables: PMD entries pointing here
    std::int32_t mapcount : 24; // data: page-table entries mapping it (a shared PTE table counts once)
    FrameKind kind : 4;
    std::uint8_t flags : 3; // FrameFlag bits
    bool pinned : 1;        // has FOLL_PIN references (PhysMem::pincount)

    // get_page() and the rmap increments: a count that would overflow its field is an error, never a wrap. (The
    // model keeps no count on the zero pages, so no count grows with the number of mappings of a zero page.)
    void get_ref() {
        if (refcount == kMaxRefcount) {
            overflow("refcount", kMaxRefcount);
        }
        ++refcount;
    }
    void get_map() {
        if (mapcount == kMaxMapcount) {
            overflow("mapcount", kMaxMapcount);
        }
        ++mapcount;
    }
    void clear_flag(FrameFlag f) { flags = static_cast<std::uint8_t>(flags & ~f & 7U); }
    [[noreturn]] static void overflow(const char* what, std::int64_t max);
};
static_assert(sizeof(Frame) == 16);

using Table = std::array<Pte, kPtrsPerTable>;

class OutOfMemory : public std::runtime_error {
  public:
    OutOfMemory() : std::runtime_error("out of simulated physical memory") {}
};

// Contract: frames are handed out zeroed (kind set by the caller); free() requires refcount 0 (hence no pins).
// Descriptors live in one anonymous mapping reserved for all frames (MAP_NORESERVE: a machine of many TiB can be
// simulated on a small host), so that untouched frames cost no host memory. Freed small frames are kept on a LIFO
// list threaded through their own descriptors (the link in `next_free`): the free list costs no memory of its own.
class PhysMem {
  public:
    explicit PhysMem(std::uint64_t frames);

    [[nodiscard]] Frame& frame(Pfn pfn) { return frames_[pfn.value]; }
    [[nodiscard]] const Frame& frame(Pfn pfn) const { return frames_[pfn.value]; }
    [[nodiscard]] std::uint64_t total_frames() const { return total_; }
    [[nodiscard]] std::uint64_t used_frames() const { return used_; }
    [[nodiscard]] std::uint64_t used_table_frames() const { return tables_used_; }
    [[nodiscard]] std::uint64_t peak_table_frames() const { return tables_peak_; }
    [[nodiscard]] Pfn zero_page() const { return Pfn{0}; }
    [[nodiscard]] Pfn huge_zero_page() const { return huge_zero_; }
    [[nodiscard]] std::uint64_t reserved_frames() const { return 1 + kHugePages; }

    // Throws OutOfMemory.
    Pfn alloc_data(FrameKind kind);
    Pfn alloc_huge();
    Pfn alloc_table(FrameKind kind);
    void free(Pfn pfn);
    // split_huge_page(): the 512 frames of a huge page become independent 4 KiB anon frames.
    void convert_huge_to_small(Pfn head);

    [[nodiscard]] Table& table(Pfn pfn) { return slot_table(frames_[pfn.value].tbl.slot); }
    [[nodiscard]] const Table& table(Pfn pfn) const { return slot_table(frames_[pfn.value].tbl.slot); }

    // FOLL_PIN references of a frame (they are also counted in its refcount). pin() throws std::overflow_error
    // at 2^32 - 1 pins, unpin() std::logic_error on a frame without pins.
    [[nodiscard]] std::uint32_t pincount(Pfn pfn) const { return frames_[pfn.value].pinned ? pins_.at(pfn.value) : 0; }
    void pin(Pfn pfn);
    void unpin(Pfn pfn);

    // Visit every frame that is not free (for the invariant checker).
    template <typename F>
    void for_each_used(F&& f) const {
        for (std::uint64_t i = 0; i < high_water_; ++i) {
            if (frames_[i].kind != FrameKind::Free) {
                f(Pfn{i}, frames_[i]);
            }
        }
        for (std::uint64_t i = huge_low_; i < total_; ++i) {
            if (frames_[i].kind != FrameKind::Free) {
                f(Pfn{i}, frames_[i]);
            }
        }
    }

  private:
    struct Unmap {
        std::size_t bytes; // no default member initializer: it would make Unmap not default-constructible here
        void operator()(Frame* p) const;
    };
    std::unique_ptr<Frame[], Unmap> frames_;
    std::uint64_t total_;
    std::uint64_t high_water_ = 0; // small frames come from [0, high_water_)
    std::uint64_t huge_low_;       // huge frames come from [huge_low_, total_), 2 MiB aligned
    std::uint64_t free_small_ = 0; // the most recently freed small frame + 1 (0: none); each links to the next
    std::vector<std::uint64_t> free_huge_;
    // The contents of table frames: one anonymous mapping reserved for as many tables as there are frames (below
    // 2^32; MAP_NORESERVE, so only the slots used cost host memory), indexed by slot. A walk finds each level's
    // table with two dependent loads (the frame's slot, the entry), where chunks of tables took three.
    struct UnmapTables {
        std::size_t bytes;
        void operator()(Table* p) const;
    };
    std::unique_ptr<Table[], UnmapTables> store_;
    std::uint64_t max_slots_;
    std::uint32_t slots_ = 0; // slots handed out so far
    [[nodiscard]] Table& slot_table(std::uint32_t slot) const { return store_[slot]; }
    std::vector<std::uint32_t> free_slots_;
    std::unordered_map<std::uint64_t, std::uint32_t> pins_; // pfn -> pincount (> 0) of the frames marked pinned
    std::uint64_t used_ = 0;
    std::uint64_t tables_used_ = 0;
    std::uint64_t tables_peak_ = 0;
    Pfn huge_zero_{};
};

} // namespace odf
