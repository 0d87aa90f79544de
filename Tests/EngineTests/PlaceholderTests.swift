import XCTest
@testable import Engine
