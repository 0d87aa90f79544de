import ArgumentParser
import Augment

/// The base augmentation every policy is followed by (pad + random crop, flip, Cutout), shared
/// by `pba train` and `pba augment`.
struct BaseAugmentationOptions: ParsableArguments {
    @Option(help: "Base augmentation: padding before the random crop (0 = no crop).")
    var padding: Int = 4

    @Option(help: "Base augmentation: Cutout size (0 = off).")
    var cutout: Int = 16

    @Flag(help: "No random horizontal flip in the base augmentation (for data where mirroring changes the class).")
    var noFlip = false

    func validate() throws {
        guard (0...64).contains(padding) else { throw ValidationError("--padding must be 0...64, got \(padding)") }
        guard (0...1024).contains(cutout) else { throw ValidationError("--cutout must be 0...1024, got \(cutout)") }
    }

    var value: BaseAugmentation { BaseAugmentation(padding: padding, flip: !noFlip, cutout: cutout) }
}
