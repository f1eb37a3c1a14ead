#include "odf/phys_mem.hpp"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <sys/mman.h>

namespace odf {

PhysMem::PhysMem(std::uint64_t frames) : total_(frames & ~(kHugePages - 1)) {
    if (total_ < 4 * kHugePages) {
        throw std::invalid_argument("physical memory must hold at least 8 MiB");
    }
    const std::size_t bytes = total_ * sizeof(Frame);
    void* raw = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) {
        throw std::runtime_error(fmt::format("cannot reserve {} MiB of address space for the frame descriptors of "
                                             "{} GiB of simulated memory (try less simulated memory)",
                                             bytes >> 20, total_ >> 18));
    }
    frames_ = std::unique_ptr<Frame[], Unmap>(static_cast<Frame*>(raw), Unmap{bytes});
    max_slots_ = std::min<std::uint64_t>(total_, UINT32_MAX);
    const std::size_t table_bytes = max_slots_ * sizeof(Table);
    void* tables =
        mmap(nullptr, table_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (tables == MAP_FAILED) {
        throw std::runtime_error(fmt::format("cannot reserve {} GiB of address space for the page tables of {} GiB "
                                             "of simulated memory (try less simulated memory: valgrind allows about "
                                             "32 GiB)",
                                             table_bytes >> 30, total_ >> 18));
    }
    store_ = std::unique_ptr<Table[], UnmapTables>(static_cast<Table*>(tables), UnmapTables{table_bytes});
    huge_low_ = total_;
    // Frame 0 is the shared zero page; the huge zero page is the topmost 2 MiB block.
    frames_[0].kind = FrameKind::ZeroPage;
    frames_[0].refcount = 1;
    high_water_ = 1;
    huge_low_ -= kHugePages;
    huge_zero_ = Pfn{huge_low_};
    frames_[huge_low_].kind = FrameKind::HugeZero;
    frames_[huge_low_].refcount = 1;
    used_ = reserved_frames();
}

void PhysMem::Unmap::operator()(Frame* p) const {
    munmap(p, bytes);
}

void PhysMem::UnmapTables::operator()(Table* p) const {
    munmap(p, bytes);
}

Pfn PhysMem::alloc_data(FrameKind kind) {
    std::uint64_t pfn = 0;
    if (free_small_ != 0) {
        pfn = free_small_ - 1;
        free_small_ = frames_[pfn].next_free;
    } else if (high_water_ < huge_low_) {
        pfn = high_water_++;
    } else {
        throw OutOfMemory();
    }
    frames_[pfn] = Frame{};
    frames_[pfn].kind = kind;
    ++used_;
    return Pfn{pfn};
}

Pfn PhysMem::alloc_huge() {
    std::uint64_t pfn = 0;
    if (!free_huge_.empty()) {
        pfn = free_huge_.back();
        free_huge_.pop_back();
    } else if (huge_low_ >= high_water_ + kHugePages) {
        huge_low_ -= kHugePages;
        pfn = huge_low_;
    } else {
        throw OutOfMemory();
    }
    for (std::uint64_t i = 0; i < kHugePages; ++i) {
        frames_[pfn + i] = Frame{};
    }
    frames_[pfn].kind = FrameKind::AnonHuge;
    used_ += kHugePages;
    return Pfn{pfn};
}

Pfn PhysMem::alloc_table(FrameKind kind) {
    Pfn pfn = alloc_data(kind);
    std::uint32_t slot = 0;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        if (slots_ == max_slots_) { // every frame is a table: cannot happen, alloc_data() ran out first
            throw OutOfMemory();
        }
        slot = slots_++;
    }
    slot_table(slot).fill(Pte{});
    frames_[pfn.value].tbl.slot = slot;
    ++tables_used_;
    if (tables_used_ > tables_peak_) {
        tables_peak_ = tables_used_;
    }
    return pfn;
}

void Frame::overflow(const char* what, std::int64_t max) {
    throw std::overflow_error(fmt::format("a page's {} would exceed {}, the model's limit", what, max));
}

void PhysMem::pin(Pfn pfn) {
    Frame& f = frames_[pfn.value];
    std::uint32_t& n = pins_[pfn.value];
    if (n == UINT32_MAX) {
        throw std::overflow_error(fmt::format("frame {}: a pincount would exceed {}, the model's limit", pfn.value, n));
    }
    ++n;
    f.pinned = true;
}

void PhysMem::unpin(Pfn pfn) {
    Frame& f = frames_[pfn.value];
    const auto it = f.pinned ? pins_.find(pfn.value) : pins_.end();
    if (it == pins_.end()) {
        throw std::logic_error(fmt::format("frame {}: unpinned without a pin", pfn.value));
    }
    if (--it->second == 0) {
        pins_.erase(it);
        f.pinned = false;
    }
}

void PhysMem::convert_huge_to_small(Pfn head) {
    for (std::uint64_t i = 0; i < kHugePages; ++i) {
        frames_[head.value + i].kind = FrameKind::Anon;
    }
}

void PhysMem::free(Pfn pfn) {
    Frame& f = frames_[pfn.value];
    if (f.pinned) { // refcount 0 with pins: a bug of the caller, and the pin map would keep a stale entry
        throw std::logic_error(fmt::format("frame {} freed with {} pins", pfn.value, pins_.at(pfn.value)));
    }
    if (is_table(f.kind)) {
        free_slots_.push_back(f.tbl.slot);
        --tables_used_;
    }
    if (f.kind == FrameKind::AnonHuge) {
        free_huge_.push_back(pfn.value);
        used_ -= kHugePages;
        f = Frame{};
    } else {
        --used_;
        f = Frame{};
        f.next_free = free_small_; // kind Free: the link is the only non-zero field
        free_small_ = pfn.value + 1;
    }
}

} // namespace odf
